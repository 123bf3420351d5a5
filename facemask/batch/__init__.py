"""Many inputs at once on Ray: `python -m facemask.batch INPUTS... --out DIR` (cli), the per-input work without
Ray (work), and the thin Ray layer of workers and stream watchers (cluster). A command layer like facemask.cli:
the library never imports it, and Ray is imported only when a run starts."""
