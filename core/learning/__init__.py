"""Learning: versioned lessons and problems, reviews, search, graded submissions."""
