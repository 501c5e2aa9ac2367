"""Operator wiring: the `flask omnicrm` command group and commands that span domains (keys,
doctor, scheduled jobs). May import any domain's services."""
