from saferl.cli import main

main()
