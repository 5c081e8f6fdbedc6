"""Promotion: a challenger becomes champion only when it is better beyond noise."""
