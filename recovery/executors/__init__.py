"""Recovery executors: each validates its parameters, plans without side effects, and executes with a
timeout, returning a structured result. The engine (policies, approvals, safety limits) calls them."""
