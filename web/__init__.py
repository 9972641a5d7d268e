"""The web app: server-rendered pages for staff, reviewers, practitioners and the public, and
a JSON API under /api/v1. Every action goes through `service.actions`."""
