"""HTTP entry points and the pages a person sees: the only layer that speaks HTTP."""
