"""The generated report: markdown sections from the pipeline's results, and their prose."""
