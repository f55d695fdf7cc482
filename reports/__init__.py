"""How a person sees the answer: the PDF report, built from stored results only."""

from reports.pdf import build_report

__all__ = ["build_report"]
