"""The report on a capture: verdict, tables, HTML timeline."""
