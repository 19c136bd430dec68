from balance_manager.cli import main

main()
