"""The theory of the paper's Section 4: closed forms, brute-force checks, and the `parallelbench theory` report."""
