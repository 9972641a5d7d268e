"""The boundaries the steps and the service write through: the file store, signed links, mails
rendered from their templates and written to the outbox, PDF and calendar papers, and the
payment provider. No Prefect task lives here; tasks/ and service/ use these."""
