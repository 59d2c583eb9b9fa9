from hpstudy.cli import run

run()
