"""`python -m volspike_oi.bench` (make bench): every benchmark section in turn."""

from volspike_oi.bench import service, sim, store, web

sim.run()
service.run()
store.run()
web.run()
