"""The subscriber book: who calls, from which numbers and addresses, and what they are worth."""
