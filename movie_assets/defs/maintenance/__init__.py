"""Maintenance: OPTIMIZE and VACUUM on a schedule, and runs whose process died."""
