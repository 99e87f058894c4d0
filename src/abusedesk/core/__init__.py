"""Small pure helpers every other package may use: errors, clock, hashing."""
