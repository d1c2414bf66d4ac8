"""The repair loop's rounds in the desktop (issue 18): each round's check, diff and refusals."""
