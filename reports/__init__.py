"""How a person sees the answer: the PDF report, built from stored results only."""

from theorycheck.reports.pdf import build_report, report_outline

__all__ = ["build_report", "report_outline"]
