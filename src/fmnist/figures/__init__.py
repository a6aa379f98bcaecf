"""Every figure of the pipeline: values in, a matplotlib `Figure` out; the stages save them.

Figures are built with `matplotlib.figure.Figure` directly, not pyplot, so no backend or
display is involved and nothing global is left open.
"""
