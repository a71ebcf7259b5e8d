from asrwatch.cli import app

app()
