"""`python -m volspike_oi.bench` (make bench): every benchmark section in turn."""

from volspike_oi.bench import assets, service, sim, store, venues, web

sim.run()
service.run()
store.run()
web.run()
venues.run()
assets.run()
