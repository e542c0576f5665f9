"""mslab: graded MindSpore autodiff labs and a trusted grader."""
