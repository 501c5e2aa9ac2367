"""HTTP plumbing shared by every domain: the REST base class and its guard, grids, security
manager, headers, limits, health, metrics. May import domains' services and models."""
