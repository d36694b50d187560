"""Bronze: landing files as Delta tables, bad lines kept aside, and their checks."""
