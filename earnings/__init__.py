"""The drivers' money: commission plans, the ledger of what each driver and the office owe, settlements."""
