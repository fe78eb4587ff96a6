"""Running the book's notebooks: the plan (each run checked, located and keyed before any
starts), one run executed with papermill (`execute`), the matrix one after another or on Dask
(`matrix`), the run record (`records`) and the commands that make a run again (`reproduce`).
Nothing here imports a page."""
