"""SavedModel export of trained flows, with signatures TF Serving can load."""
