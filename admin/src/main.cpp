// bastionctl executable: see admin/include/bastion/admin/bastionctl.hpp.
#include <iostream>

#include <bastion/admin/bastionctl.hpp>

int main(int argc, char** argv) {
  return bastion::admin::run_bastionctl(argc, argv, std::cin, std::cout, std::cerr);
}
