"""Web layer shared by features: templates, error pages and problem details, middleware."""
