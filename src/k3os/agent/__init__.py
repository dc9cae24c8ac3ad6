"""The node agent: join, register, heartbeat, apply config, run upgrades."""
