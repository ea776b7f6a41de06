# Writes OUT: a C++ source that holds every migrations/NNNN_name.sql as a string, so that bastiond
# and bastionctl apply migrations without looking for files at run time.
# Usage: cmake -DIN_DIR=... -DOUT=... -P embed_migrations.cmake
file(GLOB sql_files "${IN_DIR}/[0-9][0-9][0-9][0-9]_*.sql")
list(SORT sql_files)
set(body "")
foreach(path IN LISTS sql_files)
  get_filename_component(name "${path}" NAME_WE)
  string(SUBSTRING "${name}" 0 4 version)
  math(EXPR version "${version}")
  file(READ "${path}" sql)
  string(FIND "${sql}" ")bastion_sql\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${path} contains the embedding delimiter")
  endif()
  string(APPEND body "    {${version}, \"${name}\", R\"bastion_sql(${sql})bastion_sql\"},\n")
endforeach()
file(WRITE "${OUT}.tmp" "// Generated from migrations/*.sql by cmake/embed_migrations.cmake; do not edit.
#include <bastion/policy/migrate.hpp>

namespace bastion::policy {

const std::vector<migration>& embedded_migrations() {
  static const std::vector<migration> all{
${body}  };
  return all;
}

}  // namespace bastion::policy
")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
