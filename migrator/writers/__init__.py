"""Where items go."""
