<?xml version="1.0" encoding="UTF-8"?>
<!-- Written for tradelane's tests: a hand-compiled Schematron stylesheet (XSLT 3.0, SVRL
     out), the form the official EN 16931 and Peppol artefacts are published in. -->
<xsl:stylesheet version="3.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:svrl="http://purl.oclc.org/dsdl/svrl"
    xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
    xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
    xmlns:ubl="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2">
  <xsl:output method="xml" indent="yes"/>
  <xsl:template match="/">
    <svrl:schematron-output>
      <xsl:for-each select="//*[@currencyID]">
        <svrl:fired-rule context="*[@currencyID]"/>
        <xsl:if test="@currencyID ne /ubl:Invoice/cbc:DocumentCurrencyCode">
          <svrl:failed-assert id="BR-CL-03" flag="fatal" test="@currencyID eq /ubl:Invoice/cbc:DocumentCurrencyCode"
              location="{path(.)}">
            <svrl:text>[BR-CL-03]-currencyID <xsl:value-of select="@currencyID"/> is not the document currency.</svrl:text>
          </svrl:failed-assert>
        </xsl:if>
      </xsl:for-each>
    </svrl:schematron-output>
  </xsl:template>
</xsl:stylesheet>
