"""Fleet simulator: many agents on temporary roots."""
