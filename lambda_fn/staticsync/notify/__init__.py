"""What follows a cutover: the sibling index, invalidations, the Release Live event, the report object."""
