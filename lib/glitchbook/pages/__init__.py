"""The book's generated pages, read from the run records: each paper's results (`results`) and
its claims' verdicts (`verdicts`), the glitch bench's (`bench`), every run's state (`status`)
and the tables they share (`tables`)."""
