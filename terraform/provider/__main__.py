from terraform.provider.main import main

main()
