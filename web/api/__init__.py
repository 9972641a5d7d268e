"""The JSON API (/api/v1): schemas, who calls, refusals and the endpoints."""
