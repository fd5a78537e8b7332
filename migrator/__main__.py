"""`python -m migrator --config FILE`: run a migration (spark-submit runs dist/main.py, which does the same)."""

from migrator.cli import main

raise SystemExit(main())
