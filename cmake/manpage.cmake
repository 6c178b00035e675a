# Writes the man page vkgen(1) from the program's own help texts, so it never disagrees with them:
# 'vkgen --help', then 'vkgen COMMAND --help' for each command and 'vkgen VERB FAMILY --help' for each
# family that 'vkgen VERB --help' lists. The texts go in verbatim (no-fill) blocks.
# cmake -DVKGEN=path/to/vkgen -DOUT=vkgen.1 -DVERSION=x.y.z -P manpage.cmake
foreach(v VKGEN OUT VERSION)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "manpage.cmake needs -D${v}=...")
  endif()
endforeach()

function(help out_var)
  execute_process(COMMAND ${VKGEN} ${ARGN} --help OUTPUT_VARIABLE text ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "'vkgen ${cmd} --help' failed (${rc}): ${err}")
  endif()
  set(${out_var} "${text}" PARENT_SCOPE)
endfunction()

# roff: backslashes escaped, and a line starting with '.' or ''' must not read as a request.
function(verbatim out_var text)
  string(REPLACE "\\" "\\e" text "${text}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" text "${text}")
  string(REGEX REPLACE "\n+$" "" text "${text}")
  set(${out_var} ".nf\n${text}\n.fi\n" PARENT_SCOPE)
endfunction()

function(section out_var title)
  help(text ${ARGN})
  verbatim(body "${text}")
  set(${out_var} "${${out_var}}.SS \"vkgen ${title}\"\n${body}" PARENT_SCOPE)
endfunction()

help(main_help)
verbatim(main_body "${main_help}")
execute_process(COMMAND ${VKGEN} --version OUTPUT_VARIABLE version_text RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "'vkgen --version' failed")
endif()
verbatim(version_body "${version_text}")

set(commands "")
section(commands "devices" devices)
section(commands "selfcheck" selfcheck)
section(commands "bench ops" bench ops)
section(commands "dev" dev)
section(commands "profile" profile)
# 'vkgen VERB --help' lists the families (models) of each verb: "(FAMILY: a, b, ...)". Where a verb's
# help lists none, every family of 'train' is tried and kept where 'vkgen VERB FAMILY --help' works.
set(models "")
set(all_models "")
foreach(verb train sample eval bench)
  help(list ${verb})
  set(try 0)
  if(list MATCHES "\\((MODEL|FAMILY): ([a-z0-9_, -]+)\\)")
    string(REPLACE ", " ";" names "${CMAKE_MATCH_2}")
  elseif(all_models)
    set(names ${all_models})
    set(try 1)
  else()
    message(FATAL_ERROR "'vkgen ${verb} --help' lists no families")
  endif()
  if(verb STREQUAL "train")
    set(all_models ${names})
  endif()
  foreach(m ${names})
    if(try)
      execute_process(COMMAND ${VKGEN} ${verb} ${m} --help OUTPUT_QUIET ERROR_QUIET RESULT_VARIABLE rc)
      if(NOT rc EQUAL 0)
        continue()
      endif()
    endif()
    section(models "${verb} ${m}" ${verb} ${m})
  endforeach()
endforeach()

file(WRITE ${OUT}.tmp ".\\\" generated from the help texts of vkgen ${VERSION} by cmake/manpage.cmake; do not edit
.TH VKGEN 1 \"\" \"vkgen ${VERSION}\" \"User Commands\"
.SH NAME
vkgen \\- train, sample and evaluate generative neural networks on any Vulkan GPU
.SH SYNOPSIS
.B vkgen
.I command
.RI [ options ]
.br
.B vkgen \\-\\-version
.SH DESCRIPTION
${main_body}.SH COMMANDS
${commands}.SH FAMILIES
Each model family takes its own options for each verb.
${models}.SH VERSION
${version_body}.SH FILES
.TP
.I share/vkgen/assets
the shipped default weights, next to the installed program (found first; $VKGEN_ASSETS overrides).
.TP
.I ~/.cache/vkgen/
the pipeline cache (see VKGEN_PIPELINE_CACHE).
")
file(RENAME ${OUT}.tmp ${OUT})
