from hydro.cli import main

main()
