"""Long jobs run from the CLI: resumable, in batches, with a progress bar."""
