"""What the application's ports are made of: PostgreSQL, the file system."""
