"""colliderflow: a Snakemake pipeline from open-data ROOT files to a physics result."""

__version__ = "0.1.0"
