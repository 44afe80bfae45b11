"""What-ifs: what the same session would have cost a client with another fetch policy.

Each module states its model; :mod:`.summary` turns the counts into the report's ``what_if``.
"""
