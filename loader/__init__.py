"""Extract-load of the Fake Store API into the warehouse's `raw` dataset."""
