"""Running the system on one machine: the private PostgreSQL cluster, Prefect's server, the
workers and the web app, started, supervised and stopped together (`stack.processes`), and
backups of what a stack holds (`stack.backup`)."""
