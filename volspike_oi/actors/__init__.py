"""The service's actors: one module each, entry `async def run(..., *, task_status)`."""
