"""`python -m volspike_oi` is the same as the `volspike-oi` command."""

from volspike_oi.cli import main

raise SystemExit(main())
