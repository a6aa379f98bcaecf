"""Every figure of the pipeline: values in, a matplotlib `Figure` (not pyplot: no backend, no
global state) out; the stages save them."""
